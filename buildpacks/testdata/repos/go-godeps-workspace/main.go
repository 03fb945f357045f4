package main

import "github.com/example/greet"

func main() { println(greet.Hello()) }
