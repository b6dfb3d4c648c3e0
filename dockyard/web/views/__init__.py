"""Server-rendered pages, one module per area. Each handler parses input, authorizes through
:mod:`dockyard.permissions.policy` (or a selector that does), calls one service or selector and renders."""
