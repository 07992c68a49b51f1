module golab/bench/goloop

go 1.19
