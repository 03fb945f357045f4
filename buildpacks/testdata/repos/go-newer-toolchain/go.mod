module example.com/new

go 1.25.0

toolchain go1.25.3
