module github.com/xcloud-dev/go-getting-started

go 1.22
