// A server component: the page is rendered on the server, the elements upgrade on the client.
import { Bagnet } from './bagnet';

export default function Page() {
  return (
    <main>
      <h1>Sneaker?</h1>
      <Bagnet src="/models/default/samples/14-sneaker.png" />
    </main>
  );
}
