import * as fs from 'fs';
import * as path from 'path';
import { PACKAGE_ROOT } from '../package-root';
import { renderCrds } from './crds';

/** `npm run gen:crds`: rewrites crds/ from protos/. */
const dir = path.join(PACKAGE_ROOT, 'crds');
fs.mkdirSync(dir, { recursive: true });
for (const [file, text] of renderCrds()) fs.writeFileSync(path.join(dir, file), text);
process.stdout.write(`wrote ${dir}\n`);
