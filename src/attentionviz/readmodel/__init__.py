"""The one declared contract between a run and every host: the layout vocabulary (`attentionviz.layouts`),
the route table (`routes`), the records and frame metadata it sends (`models`), the binary frame
(`frames`), the payloads built from the store (`runs`, `tables`, `layouts`, `attention`), what a host
shows (`scope`), and the generated TypeScript (`typescript`)."""
