'use client';
// Imported on the server too (the client component is rendered there first): the package touches no
// browser global until an element is used in the browser.
import 'bagnet-elements/register';
import type {} from 'bagnet-elements/jsx';
import { useState } from 'react';

export function Bagnet({ src }: { src: string }) {
  const [top, setTop] = useState('');
  return (
    <>
      <bagnet-classifier id="c" model="/models/default/bagnet.json" src={src} top-k={3}
        onbagnet-result={(event) => setTop(event.detail.topk[0]!.label)} />
      <bagnet-heatmap for="c" resolution="exact" />
      <output>{top}</output>
    </>
  );
}
