import { createRoot } from 'react-dom/client';
import 'bagnet-elements/register';
import { configure } from 'bagnet-elements';
import type {} from 'bagnet-elements/jsx';
import { App } from './App';

// In the same module as the import: it applies, since the pool starts its worker a task later.
configure({ numThreads: 2 });

createRoot(document.getElementById('root')!).render(<App />);
