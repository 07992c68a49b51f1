module github.com/go-uretprobe-lab/server

go 1.19
