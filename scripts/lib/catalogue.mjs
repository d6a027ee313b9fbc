// The stand's catalogue of services and its group names (role stand's defaults: stand_catalogue,
// stand_default_groups), as inventory.mjs's listInventory gives them, merged with an inventory's
// stand_extra_services and stand_group_names exactly as role stand merges them for the other roles
// (plugins/filter/stand_catalogue.py answers the same questions there).

export const KINDS = ['prometheus', 'nginx', 'victoriametrics']

/** The values every host shares (the `all` ones): those of the first host that has the catalogue. */
export function sharedVars(list) {
  const hostvars = Object.values(list._meta?.hostvars ?? {})
  return hostvars.find((vars) => Array.isArray(vars.stand_catalogue)) ?? {}
}

/** { kind: inventory group name }. */
export function standGroups(vars) {
  return { ...(vars.stand_default_groups ?? {}), ...(vars.stand_group_names ?? {}) }
}

/** Every service of the stand: the catalogue, then the inventory's own (stand_extra_services). */
export function standServices(vars) {
  return [...(vars.stand_catalogue ?? []), ...(vars.stand_extra_services ?? [])]
}

/** The hosts of a group in `ansible-inventory --list`, its child groups' included, each once. */
export function groupMembers(list, group) {
  const walk = (name) => [...(list[name]?.hosts ?? []), ...(list[name]?.children ?? []).flatMap(walk)]
  return [...new Set(walk(group))]
}

/** { kind: [host name] } for every kind, empty where the inventory has no such group. */
export function hostsByKind(list) {
  const groups = standGroups(sharedVars(list))
  return Object.fromEntries(KINDS.map((kind) => [kind, groups[kind] ? groupMembers(list, groups[kind]) : []]))
}

/**
 * The services on one host, each with its port or listen address resolved from the host's own vars:
 * { name, unit, port?, listen?, tls, clients, scrape?, probe?, tlsFront? }.
 */
export function servicesOf(kinds, vars, services = standServices(vars)) {
  return services
    .filter((service) => service.kinds.some((kind) => kinds.includes(kind)))
    .map((service) => ({
      name: service.name,
      unit: service.unit,
      ...(service.port !== undefined && { port: Number(vars[service.port]) }),
      ...(service.listen !== undefined && { listen: String(vars[service.listen]) }),
      tls: service.tls ?? 'none',
      clients: service.clients,
      ...(service.scrape && { scrape: { scheme: 'https', path: '/metrics', ...service.scrape } }),
      ...(service.probe && { probe: service.probe }),
      ...(service.tls_front && { tlsFront: service.tls_front }),
    }))
}

/** The kinds of a host, from the groups that hold it. */
export function kindsOf(name, byKind) {
  return KINDS.filter((kind) => byKind[kind].includes(name))
}
