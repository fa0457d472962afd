/** What tether asks for: identity, the claims the hub maps to rights (groups), and a refresh token. */
export const DEFAULT_SCOPES: readonly string[] = ['openid', 'profile', 'email', 'groups', 'offline_access']
