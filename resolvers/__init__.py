"""The functions behind the GraphQL fields: typed values in (the caller, ids, inputs,
the services they need), rows or errors out; no strawberry `info`, no schema imports."""
