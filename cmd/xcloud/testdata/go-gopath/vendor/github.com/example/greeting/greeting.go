// Package greeting is the vendored dependency of the GOPATH-era test app.
package greeting

// For greets name.
func For(name string) string { return "hello from " + name }
