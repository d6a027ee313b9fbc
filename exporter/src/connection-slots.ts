// Connection slots of the /metrics listener, kept so that idle or slow connections, from however many
// addresses, cannot lock Prometheus out:
// - a connection must send its first request within a second (Node's own timeouts allow seconds);
// - one client (an IPv4 address, an IPv6 /64) holds a bounded share of the slots;
// - when slots run short, the connection idle the longest is closed to make room, rather than the new
//   one refused;
// - some slots are kept for clients answered recently (with basic auth: that authenticated), which
//   unknown clients can neither take nor free by eviction.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { clientGroup } from './client-group.js';
import { logWarning } from './log.js';

export interface ConnectionLimits {
  /** Open connections at most. Keep well under the unit's LimitNOFILE. */
  maxConnections: number;
  /** Open connections of one client at most. */
  maxConnectionsPerClient: number;
  /** Of maxConnections, the slots only known clients (answered recently) may take. */
  reservedForKnownClients: number;
  /** A connection that has not sent a complete first request by then is closed. */
  firstRequestTimeoutMs: number;
}

/** For /metrics: Prometheus needs one connection per scrape; people and probes a few more. */
export const METRICS_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 512,
  maxConnectionsPerClient: 64,
  reservedForKnownClients: 64,
  firstRequestTimeoutMs: 1000,
};

/** A client stays known this long after its last successful answer. */
const KNOWN_FOR_MS = 15 * 60_000;
/** Known clients remembered at most (the oldest forgotten first): bounded memory. */
const MAX_KNOWN_CLIENTS = 4096;
const WARNING_INTERVAL_MS = 60_000;

interface Connection {
  key: string;
  socket: Socket;
  client: string;
  requestsInFlight: number;
  idleSince: number;
  firstRequestTimer: NodeJS.Timeout | null;
}

export function limitConnections(server: Server, limits: ConnectionLimits, what: string): void {
  // keyed by the remote address and port, which the TLS socket of a request shares with its TCP socket
  const open = new Map<string, Connection>();
  const byClient = new Map<string, Set<Connection>>();
  const knownUntil = new Map<string, number>();
  let warnedAt = 0;
  const warn = (message: string) => {
    if (Date.now() - warnedAt < WARNING_INTERVAL_MS) return;
    warnedAt = Date.now();
    logWarning(`${what}: ${message} (said at most once a minute)`);
  };

  const isKnown = (client: string) => (knownUntil.get(client) ?? 0) > Date.now();
  const remember = (client: string) => {
    knownUntil.delete(client); // re-inserted last: the map's order is the age of the last answer
    knownUntil.set(client, Date.now() + KNOWN_FOR_MS);
    if (knownUntil.size > MAX_KNOWN_CLIENTS) knownUntil.delete(knownUntil.keys().next().value!);
  };

  /** Closes the connection idle the longest among `candidates`; false when none is idle. */
  const evictIdlest = (candidates: Iterable<Connection>, mayEvict: (c: Connection) => boolean = () => true): boolean => {
    let idlest: Connection | null = null;
    for (const connection of candidates) {
      if (connection.requestsInFlight > 0 || !mayEvict(connection)) continue;
      if (!idlest || connection.idleSince < idlest.idleSince) idlest = connection;
    }
    if (!idlest) return false;
    forget(idlest);
    idlest.socket.destroy();
    return true;
  };

  const forget = (connection: Connection) => {
    if (connection.firstRequestTimer) clearTimeout(connection.firstRequestTimer);
    connection.firstRequestTimer = null;
    if (open.get(connection.key) === connection) open.delete(connection.key);
    const ofClient = byClient.get(connection.client);
    ofClient?.delete(connection);
    if (ofClient?.size === 0) byClient.delete(connection.client);
  };

  server.on('connection', (socket: Socket) => {
    const client = clientGroup(socket.remoteAddress);
    const known = isKnown(client);
    const ofClient = byClient.get(client) ?? new Set<Connection>();
    if (ofClient.size >= limits.maxConnectionsPerClient && !evictIdlest(ofClient)) {
      warn(`${client} has ${limits.maxConnectionsPerClient} connections busy already: refusing its new ones`);
      socket.destroy();
      return;
    }
    // an unknown client may neither use the reserved slots nor close a known client's idle connection
    const limit = known ? limits.maxConnections : limits.maxConnections - limits.reservedForKnownClients;
    if (open.size >= limit && !evictIdlest(open.values(), (c) => known || !isKnown(c.client))) {
      warn(`${open.size} connections open, none idle${known ? '' : ' from a client not answered recently'}: refusing a new one from ${client}`);
      socket.destroy();
      return;
    }
    const connection: Connection = { key: keyOf(socket), socket, client, requestsInFlight: 0, idleSince: Date.now(), firstRequestTimer: null };
    connection.firstRequestTimer = setTimeout(() => {
      forget(connection);
      socket.destroy();
    }, limits.firstRequestTimeoutMs);
    connection.firstRequestTimer.unref();
    open.set(connection.key, connection);
    ofClient.add(connection);
    byClient.set(client, ofClient);
    socket.once('close', () => forget(connection));
  });

  server.on('request', (req, res) => {
    const connection = open.get(keyOf(req.socket));
    if (!connection) return;
    if (connection.firstRequestTimer) clearTimeout(connection.firstRequestTimer);
    connection.firstRequestTimer = null;
    connection.requestsInFlight++;
    res.once('finish', () => {
      if (res.statusCode < 400) remember(connection.client);
    });
    res.once('close', () => {
      connection.requestsInFlight--;
      connection.idleSince = Date.now();
    });
  });
}

function keyOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
