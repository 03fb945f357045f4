// A small Express app for xcloud: it listens on $PORT.
const express = require('express');

const app = express();
const port = process.env.PORT || 5000;

app.get('/healthz', (req, res) => res.send('ok\n'));
app.get('/', (req, res) => res.send('Hello from __APP__ (Node.js)\n'));

app.listen(port, () => console.log(`listening on :${port}`));
