// Runs graphql-http's GraphQL-over-HTTP server audit against the URL given as the first
// argument and prints one JSON object per audit: {id, name, status, reason}.
// Used by tests/clients/test_http_audit.py, which requires every status to be "ok".
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs http://host:port/graphql");
  process.exit(2);
}

const results = await auditServer({ url });
for (const result of results) {
  console.log(
    JSON.stringify({
      id: result.id,
      name: result.name,
      status: result.status,
      reason: result.status === "ok" ? null : result.reason,
    }),
  );
}
