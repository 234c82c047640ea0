#!/usr/bin/env node
// `npm run demo:ohif`: the OHIF Viewer 3.13 with the BagNet extension and mode, and a local Orthanc
// holding the test study (three slices) and the DICOM fixtures, at http://127.0.0.1:3000/ (PORT to change).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dicomIn, prepareViewer, startViewer } from './ohif-viewer.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const study = join(root, 'build/ohif/study');
if (!existsSync(join(study, 'expected.json'))) execFileSync('/usr/bin/python3', [join(root, 'test/ohif/make_study.py'), study], { stdio: 'inherit' });
prepareViewer();
const fixtures = existsSync(join(root, 'build/dicom')) ? dicomIn(join(root, 'build/dicom')).filter((f) => !f.includes('/bad-')) : [];
const viewer = await startViewer({ port: Number(process.env.PORT ?? 3000), dicomFiles: [...dicomIn(study), ...fixtures] });
console.log(`OHIF with the BagNet mode: ${viewer.url}/ (the study list; open a study in "BagNet evidence"), Ctrl+C to stop`);
