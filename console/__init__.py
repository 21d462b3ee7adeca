"""The web console: server-rendered pages for the people of the nine libraries, over the same
application layer as the REST API (docs/console.md)."""
