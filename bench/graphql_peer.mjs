// The peer for `make bench`'s GraphQL section: @graphql-tools/mock serving a schema over HTTP.
// node bench/graphql_peer.mjs SCHEMA.json PORT -- an introspection result, answered at POST /graphql
// with addMocksToSchema's default mocks (as a team would start with it), one JSON response each.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";

const require = createRequire(process.env.GRAPHQL_PEER_MODULES + "/");
const { buildClientSchema, graphql } = require("graphql");
const { addMocksToSchema } = require("@graphql-tools/mock");

const [file, port] = process.argv.slice(2);
const introspection = JSON.parse(readFileSync(file, "utf8"));
const schema = addMocksToSchema({ schema: buildClientSchema(introspection.data || introspection) });

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
