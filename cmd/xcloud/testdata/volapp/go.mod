module volapp

go 1.22
