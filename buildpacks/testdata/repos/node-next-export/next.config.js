module.exports = {
  output: 'export',
}
