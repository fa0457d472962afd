/** Short human descriptions of rules and grants for refusal messages. */
import { joinPath } from '@tether/config'
import type { ClaimCondition, GrantConfig, RuleConfig } from './schema.js'

/** `rule[1] "lab-a devs"`. */
export function grantName(grant: GrantConfig): string {
  return grant.label === undefined ? grant.id : `${grant.id} ${JSON.stringify(grant.label)}`
}

/** `rule[1] "lab-a devs" (match: groups has all of ["lab-a"], email_verified = true)`. */
export function describeRule(rule: RuleConfig): string {
  const match = rule.match.length === 0 ? 'any signed-in user' : rule.match.map(describeCondition).join(', ')
  return `${grantName(rule)} (match: ${match})`
}

export function describeCondition(condition: ClaimCondition): string {
  const path = condition.path.reduce((at, key) => joinPath(at, key), '')
  return condition.kind === 'equals'
    ? `${path} = ${JSON.stringify(condition.value)}`
    : `${path} has all of ${JSON.stringify(condition.values)}`
}

export function listNames(grants: readonly GrantConfig[]): string {
  return grants.map(grantName).join(', ')
}
