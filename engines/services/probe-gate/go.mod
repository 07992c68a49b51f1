module labprobegate

go 1.19
