import { useState } from 'react';

export function App() {
  const [top, setTop] = useState('');
  return (
    <main>
      <bagnet-classifier id="c" model="/models/default/bagnet.json" src="/models/default/samples/14-sneaker.png"
        top-k={3} backend="wasm" onbagnet-result={(event) => setTop(event.detail.topk[0]!.label)} />
      <bagnet-heatmap for="c" resolution="exact" opacity={0.6} />
      <output>{top}</output>
    </main>
  );
}
