// The peer for `make bench`'s GraphQL section: @graphql-tools/mock serving a schema over HTTP.
// node bench/graphql_peer.mjs SCHEMA.json PORT -- an introspection result, answered at POST /graphql
// with addMocksToSchema's default mocks (as a team would start with it) plus one for each custom
// scalar (the library has none for DateTime, URI ... and fails the field otherwise), one JSON
// response each.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";

const require = createRequire(process.env.GRAPHQL_PEER_MODULES + "/");
const { buildClientSchema, graphql, isScalarType, isSpecifiedScalarType } = require("graphql");
const { addMocksToSchema } = require("@graphql-tools/mock");

const [file, port] = process.argv.slice(2);
const introspection = JSON.parse(readFileSync(file, "utf8"));
const built = buildClientSchema(introspection.data || introspection);
const mocks = {};
for (const type of Object.values(built.getTypeMap())) {
  if (isScalarType(type) && !isSpecifiedScalarType(type)) {
    const name = type.name.toLowerCase();
    const value = name.includes("date") || name.includes("time") ? "2020-01-01T00:00:00Z"
      : name.includes("uri") || name.includes("url") ? "https://example.com/" : "value";
    mocks[type.name] = () => value;
  }
}
const schema = addMocksToSchema({ schema: built, mocks });

createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => { body += chunk; });
  req.on("end", async () => {
    try {
      const { query, variables, operationName } = JSON.parse(body || "{}");
      const result = await graphql({ schema, source: query, variableValues: variables, operationName });
      const text = JSON.stringify(result);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    } catch (error) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ message: String(error) }] }));
    }
  });
}).listen(Number(port), "127.0.0.1");
