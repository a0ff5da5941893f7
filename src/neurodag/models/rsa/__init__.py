"""Representational geometry: topological RSA (:mod:`.trsa`), condition patterns from the
contract (:mod:`.patterns`) and Shesha geometric stability (:mod:`.stability`)."""
