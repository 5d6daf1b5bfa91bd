'use strict'
// A self-signed certificate for `localhost` (and 127.0.0.1, ::1), made at run time for the https
// example and the tour: PEM strings { cert, key }. Development only: a client trusts it by giving
// the certificate itself as `ca`. In production, use a certificate from your CA (Let's Encrypt...).
//
// node-forge writes the X.509 certificate (a devDependency of this repository: outside it,
// `npm install node-forge`, or make one with `openssl req -x509 ...`); Node's crypto makes the key.

const crypto = require('crypto')
const forge = require('node-forge')

/** A self-signed certificate for localhost, valid from an hour ago for `days` days. */
function localhostCertificate(days = 30) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pub = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString())
  const priv = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString())
  const cert = forge.pki.createCertificate()
  cert.publicKey = pub
  cert.serialNumber = crypto
    .randomBytes(8)
    .toString('hex')
    .replace(/^[89a-f]/, '1')
  cert.validity.notBefore = new Date(Date.now() - 3600e3)
  cert.validity.notAfter = new Date(Date.now() + days * 86400e3)
  const name = [{ name: 'commonName', value: 'localhost' }]
  cert.setSubject(name)
  cert.setIssuer(name)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
  ])
  cert.sign(priv, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }
}

module.exports = { localhostCertificate }
