module github.com/example/ledger

go 1.22
