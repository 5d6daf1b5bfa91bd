// abio's public typings: TLS options, shared by the servers (serve, listen) and the clients
// (connect, request, download, connectWebSocket). Re-exported by ../index.d.ts.
/// <reference types="node" />
import type { Data } from './bytes'

/**
 * A server's certificate for `serve({ tls })` and `listen({ tls })` (https, wss, TLS
 * sockets). PEM given as a string or bytes, copied when the option is given (a certificate
 * or key that does not parse throws then). TLS 1.2 and 1.3 only, rustls's cipher suites,
 * no renegotiation. Several of them (an array) are chosen by the name the client asks for
 * (SNI); a client that names none, or another, gets the first without `serverName`
 * (else the first). An unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export interface TlsServerOptions {
  /** The certificate chain, PEM: the server's certificate first, then intermediates. */
  cert: Data
  /** Its private key, PEM (PKCS#8, RSA or EC; an `ENCRYPTED PRIVATE KEY` needs `passphrase`). */
  key: Data
  /** Decrypts an encrypted (PKCS#8) key. */
  passphrase?: string
  /** Certificates (PEM) trusted for client certificates, with `requestCert`. */
  ca?: Data | Data[]
  /**
   * Asks each client for a certificate, and refuses one without a valid one (signed by
   * `ca`), as Node's `requestCert` with `rejectUnauthorized` (its default). Applies to the
   * whole server (the first entry's). @default false
   */
  requestCert?: boolean
  /** The name (SNI) this certificate answers, when several are given: `'example.com'`, `'*.example.com'`. */
  serverName?: string
  /**
   * ALPN protocols offered, in order of preference (the first entry's apply). @default
   * `['http/1.1']` for `serve`, none for `listen`
   */
  ALPNProtocols?: string[]
}

/**
 * A client's TLS options (Node's names): `connect({ tls })`, and the options of
 * `request`/`download` (`https:`) and `connectWebSocket` (`wss:`) themselves. Without
 * `ca`, the server's certificate must chain to Mozilla's roots (bundled, as Node's) or to a
 * certificate of the file named by `NODE_EXTRA_CA_CERTS` (read once, as Node does). A
 * failed verification rejects with Node's code: `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`, `SELF_SIGNED_CERT_IN_CHAIN`, `CERT_HAS_EXPIRED`,
 * `CERT_NOT_YET_VALID`, `ERR_TLS_CERT_ALTNAME_INVALID`; an alert from the server with
 * `ERR_SSL_…_ALERT_…`; a server that does not speak TLS with `ERR_SSL_WRONG_VERSION_NUMBER`.
 * `cert` and `key` come together (one alone does not type-check; it throws at run time). An
 * unknown option name throws `ABIO_ERR_INVALID_ARG`.
 */
export type TlsClientOptions = TlsClientFields & TlsClientCertificate

/**
 * A client certificate: `cert` and `key` both, or neither.
 */
export type TlsClientCertificate =
  | {
      /** A client certificate chain (PEM), with `key`. */
      cert: Data
      /** The client certificate's private key (PEM). */
      key: Data
    }
  | { cert?: undefined; key?: undefined }

/** The fields of {@link TlsClientOptions}. */
export interface TlsClientFields {
  /** Certificates (PEM) trusted instead of the default roots. */
  ca?: Data | Data[]
  /** `false` accepts any certificate (the handshake's signatures are still checked). @default true */
  rejectUnauthorized?: boolean
  /** The name sent (SNI) and verified, instead of the URL's or `host`. */
  servername?: string
  /** A client certificate chain (PEM), with `key`. */
  cert?: Data
  /** The client certificate's private key (PEM). */
  key?: Data
  /** Decrypts an encrypted (PKCS#8) `key`. */
  passphrase?: string
  /** ALPN protocols offered. @default `['http/1.1']` for request/download/connectWebSocket, none for connect */
  ALPNProtocols?: string[]
}
