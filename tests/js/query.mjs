// A Flight SQL client from npm (@gizmodata/gizmosql-client) against a ballista-flight scheduler.
//
//   node query.mjs URI execute SQL... the client's own execute(), statement after statement; prints
//                                     the last result (execute() reads the first endpoint, at the scheduler)
//   node query.mjs URI query SQL      every endpoint, each fetched where the FlightInfo points, in parallel
//   node query.mjs URI tables [PATTERN] | catalogs
//   node query.mjs URI metadata PATTERN  every catalog call at once: catalogs, schemas, tables (all
//                                     and those like PATTERN), table types
//
// URI is grpc://host:port or grpc+tls://host:port. Credentials come from the environment,
// never argv: BF_USER and BF_PASSWORD (Basic on the handshake, then the bearer token it
// returns) or BF_TOKEN. A private CA for grpc+tls goes in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH
// (read by @grpc/grpc-js itself). Prints one JSON document on stdout; errors go to stderr
// with exit code 1.
import { FlightSQLClient } from "@gizmodata/gizmosql-client";
import flightSqlMessages from "@gizmodata/gizmosql-client/dist/generated/proto/FlightSql_pb.js";
import { Type } from "apache-arrow";

const { CommandStatementQuery } = flightSqlMessages;

/** A client for `uri` (grpc:// or grpc+tls://) that logs in with `auth` (token, or username and password). */
function clientFor(uri, auth) {
  const url = new URL(uri.replace(/^grpc\+tls:/, "https:").replace(/^grpc(\+tcp)?:/, "http:"));
  return new FlightSQLClient({ host: url.hostname, port: Number(url.port), plaintext: url.protocol === "http:", ...auth });
}

function authFromEnv() {
  if (process.env.BF_TOKEN) return { token: process.env.BF_TOKEN };
  if (process.env.BF_USER) return { username: process.env.BF_USER, password: process.env.BF_PASSWORD };
  return {};
}

/** Exact decimal text of an unscaled 128-bit value (Arrow JS prints the unscaled integer). */
function decimalText(unscaled, scale) {
  const digits = String(unscaled);
  if (scale <= 0) return digits + "0".repeat(-scale);
  const negative = digits.startsWith("-");
  const body = (negative ? digits.slice(1) : digits).padStart(scale + 1, "0");
  return `${negative ? "-" : ""}${body.slice(0, -scale)}.${body.slice(-scale)}`;
}

/** A cell as JSON: 64-bit integers and decimals as exact strings, dates as ISO text. */
function jsonValue(value, type) {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case Type.Decimal:
      return decimalText(value, type.scale);
    case Type.Date:
      return new Date(Number(value)).toISOString().slice(0, 10);
    default:
      return typeof value === "bigint" ? value.toString() : value;
  }
}

/** Arrow tables of one schema as {columns, rows}; no table at all (an empty answer): no columns. */
function tableJson(tables) {
  if (tables.length === 0) return { columns: [], rows: [] };
  const schema = tables[0].schema;
  const rows = [];
  for (const table of tables) {
    const columns = schema.fields.map((_, i) => table.getChildAt(i));
    for (let r = 0; r < table.numRows; r++) {
      rows.push(schema.fields.map((field, i) => jsonValue(columns[i].get(r), field.type)));
    }
  }
  return { columns: schema.fields.map((f) => ({ name: f.name, type: String(f.type) })), rows };
}

/**
 * The Flight SQL flow done fully, which execute() does not: it reads only the first
 * endpoint, at the scheduler. Here every endpoint is fetched where the FlightInfo points
 * (an executor), all at once, with the bearer token the scheduler's handshake returned.
 * The descriptor is built with the client's own generated messages and helper.
 */
async function queryAll(client, sql) {
  const command = new CommandStatementQuery();
  command.setQuery(sql);
  const descriptor = client.createCommandDescriptor(command, FlightSQLClient.TYPE_URLS.COMMAND_STATEMENT_QUERY);
  const info = await client.getFlightInfo(descriptor);
  const bearer = client.metadata.get("authorization")[0]?.toString().replace(/^Bearer /, "");
  const endpoints = info.getEndpointList();
  const pieces = endpoints.map(async (endpoint) => {
    const location = endpoint.getLocationList()[0]?.getUri();
    if (!location) return client.doGet(endpoint.getTicket());
    const peer = clientFor(location, bearer ? { token: bearer } : {});
    try {
      return await peer.doGet(endpoint.getTicket());
    } finally {
      await peer.close();
    }
  });
  const tables = (await Promise.all(pieces)).filter((t) => t.schema.fields.length > 0);
  const locations = endpoints.map((e) => e.getLocationList()[0]?.getUri() ?? null);
  return { locations, ...tableJson(tables) };
}

async function main() {
  const [uri, command, ...args] = process.argv.slice(2);
  const arg = args[0];
  const client = clientFor(uri, authFromEnv());
  try {
    let out;
    if (command === "execute") {
      for (const sql of args) out = tableJson([await client.execute(sql)]);
    } else if (command === "query") out = await queryAll(client, arg);
    else if (command === "tables") out = await client.getTables(undefined, undefined, arg);
    else if (command === "catalogs") out = await client.getCatalogs();
    else if (command === "metadata") {
      out = {
        catalogs: await client.getCatalogs(),
        schemas: await client.getSchemas(),
        tables: await client.getTables(),
        tablesLike: await client.getTables(undefined, undefined, arg),
        tableTypes: await client.getTableTypes(),
      };
    } else throw new Error(`unknown command ${command}`);
    process.stdout.write(JSON.stringify(out) + "\n");
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
});
