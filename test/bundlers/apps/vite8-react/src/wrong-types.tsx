// Checked by `tsc` only: each line must be a type error, or tsc fails on the unused directive.
export const wrong = [
  // @ts-expect-error: not a HeatmapResolution
  <bagnet-heatmap resolution="sharp" />,
  // @ts-expect-error: top-k is a number
  <bagnet-classifier top-k="three" />,
  // @ts-expect-error: not a backend
  <bagnet-classifier backend="cuda" />,
  // @ts-expect-error: the result event's detail has no `labels`
  <bagnet-classifier onbagnet-result={(event) => event.detail.labels} />,
  // @ts-expect-error: no such element
  <bagnet-classifer />,
];
