module example/hello-go

go 1.27
