"""Source templates `plait new-plugin` fills in: one component per kind, its tests on the contract suites."""
