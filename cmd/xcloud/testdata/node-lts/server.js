// Plain http, no dependencies: nothing for npm to install.
const http = require('http');
http.createServer((req, res) => res.end('node ' + process.version + '\n')).listen(process.env.PORT);
