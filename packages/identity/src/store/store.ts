import type { Credentials } from '../credentials.js'

/** Where credentials live, one record per key (the hub URL the user logged in to). */
export interface CredentialStore {
  readonly kind: 'keyring' | 'file'
  /** Human-readable: "the OS keyring (service tether)" or the file path. */
  readonly location: string
  get(key: string): Promise<Credentials | undefined>
  set(key: string, credentials: Credentials): Promise<void>
  /** Whether there was something to delete. */
  delete(key: string): Promise<boolean>
}

/** The keytar API (`@napi-rs/keyring/keytar` implements it); tests pass a fake. */
export interface KeytarLike {
  getPassword(service: string, account: string): Promise<string | null>
  setPassword(service: string, account: string, password: string): Promise<void>
  deletePassword(service: string, account: string): Promise<boolean>
}

export const KEYRING_SERVICE = 'tether'
