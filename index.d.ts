// Type definitions for abio. Hand-written (binding.d.ts is generated and internal);
// pinned by __test__/types.ts. One file per area under types/, every name re-exported here:
// `import { … } from 'abio'` and `require('abio')` see them all, as before.
/// <reference types="node" />

export * from './types/bytes'
export * from './types/fs'
export * from './types/pack'
export * from './types/net'
export * from './types/http'
export * from './types/ws'
export * from './types/client'
export * from './types/tls'
export * from './types/headers'
