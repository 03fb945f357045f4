module github.com/heroku/go-getting-started

go 1.22
