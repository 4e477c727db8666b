(module (memory (export "mem") 100))
