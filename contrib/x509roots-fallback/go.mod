module golang.org/x/crypto/x509roots/fallback

go 1.24
