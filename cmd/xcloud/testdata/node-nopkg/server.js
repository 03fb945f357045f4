// A Node.js app with no package.json: the Procfile says how to start it.
const http = require('http');
http.createServer((req, res) => res.end('hello from node\n')).listen(process.env.PORT);
