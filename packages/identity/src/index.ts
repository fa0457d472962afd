/**
 * @tether/identity — logging a user (or a CI job) in with OpenID Connect and keeping the
 * credentials: the tokens the hub accepts as proof of who is asking.
 */
export { type BrowserLoginOptions, loginWithBrowser } from './browser-login.js'
export type { Credentials, LoginMethod } from './credentials.js'
export { type CurrentTokenOptions, currentToken } from './current-token.js'
export {
  type Clock,
  type Fetch,
  type Logger,
  realSleep,
  type Sleep,
  silentLogger,
  systemClock,
} from './deps.js'
export { type DeviceLoginOptions, type DevicePrompt, loginWithDeviceCode } from './device-login.js'
export { type DiscoverOptions, discover, isLoopbackHttp } from './discovery.js'
export { IdentityError, type IdentityErrorCode, isIdentityError } from './errors.js'
export { decodeClaims, looksLikeJwt } from './jwt.js'
export { type RefreshOptions, refresh } from './refresh.js'
export { DEFAULT_SCOPES } from './scopes.js'
export { logout, type WhoAmI, whoami } from './session.js'
export { defaultCredentialsPath, fileStore } from './store/file.js'
export { keyringStore, loadSystemKeyring, probeKeyring } from './store/keyring.js'
export { type OpenedStore, type OpenStoreOptions, openCredentialStore } from './store/open.js'
export { type CredentialStore, KEYRING_SERVICE, type KeytarLike } from './store/store.js'
export { loginWithTokenCommand, type TokenCommandOptions } from './token-command.js'
