const http = require('http');
const addon = require('./build/Release/hello.node');
http.createServer((req, res) => res.end(addon.hello() + '\n')).listen(process.env.PORT);
