"""Reference executor and the executor SDK any vendor can embed."""
