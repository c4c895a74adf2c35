import { Reader, Writer } from 'protobufjs';
import { FileDescriptorProto } from 'protobufjs/ext/descriptor';

/**
 * Protobuf file descriptors as gRPC servers describe themselves (reflection) and as Envoy's gRPC-JSON
 * transcoder needs them: a FileDescriptorSet whose files import every file whose types they use, imports
 * first. Files keep the bytes they arrived with (re-encoding would drop options such as google.api.http).
 */
export interface DecodedMessage {
  name: string;
  field?: Array<{ typeName?: string }>;
  nestedType?: DecodedMessage[];
  enumType?: Array<{ name: string }>;
}

export interface DecodedFile {
  name: string;
  package?: string;
  dependency?: string[];
  messageType?: DecodedMessage[];
  enumType?: Array<{ name: string }>;
  service?: Array<{
    name: string;
    method?: Array<{
      name: string;
      inputType: string;
      outputType: string;
      clientStreaming?: boolean;
      serverStreaming?: boolean;
    }>;
  }>;
}

export interface DescriptorFile {
  raw: Buffer;
  decoded: DecodedFile;
}

/** FileDescriptorProto.dependency is field 3, length-delimited. */
const DEPENDENCY_TAG = (3 << 3) | 2;
/** FileDescriptorSet.file is field 1, length-delimited. */
const FILE_TAG = (1 << 3) | 2;

export function qualified(prefix: string | undefined, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

export function decodeFile(raw: Buffer): DescriptorFile {
  const decoded = FileDescriptorProto.toObject(FileDescriptorProto.decode(raw), {
    arrays: true,
  }) as DecodedFile;
  if (!decoded.name) throw new Error('a file descriptor without a name');
  return { raw, decoded };
}

/** The files of a serialized FileDescriptorSet, each with its own bytes. */
export function decodeDescriptorSet(bytes: Uint8Array): DescriptorFile[] {
  const reader = Reader.create(bytes);
  const files: DescriptorFile[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === FILE_TAG) files.push(decodeFile(Buffer.from(reader.bytes())));
    else reader.skipType(tag & 7);
  }
  return files;
}

/** FileDescriptorSet bytes made of the files' own bytes. */
export function descriptorSetBytes(files: readonly DescriptorFile[]): Buffer {
  const writer = Writer.create();
  for (const file of files) writer.uint32(FILE_TAG).bytes(file.raw);
  return Buffer.from(writer.finish());
}

/** Fully qualified message and enum name -> the file that defines it. */
function typeIndex(files: readonly DescriptorFile[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const { decoded } of files) {
    const visit = (scope: string | undefined, messages: DecodedMessage[] | undefined) => {
      for (const message of messages ?? []) {
        const name = qualified(scope, message.name);
        index.set(name, decoded.name);
        for (const nested of message.enumType ?? []) index.set(qualified(name, nested.name), decoded.name);
        visit(name, message.nestedType);
      }
    };
    for (const enumType of decoded.enumType ?? [])
      index.set(qualified(decoded.package, enumType.name), decoded.name);
    visit(decoded.package, decoded.messageType);
  }
  return index;
}

/** Message names the set defines (for checking method types). */
export function definedTypes(files: readonly DescriptorFile[]): Set<string> {
  return new Set(typeIndex(files).keys());
}

/** Every type name the file refers to, with the scope protobuf resolves a relative name in. */
function referencesOf(file: DecodedFile): Array<{ name: string; scope: string }> {
  const references: Array<{ name: string; scope: string }> = [];
  const visit = (scope: string, messages: DecodedMessage[] | undefined) => {
    for (const message of messages ?? []) {
      const name = qualified(scope, message.name);
      for (const field of message.field ?? [])
        if (field.typeName) references.push({ name: field.typeName, scope: name });
      visit(name, message.nestedType);
    }
  };
  visit(file.package ?? '', file.messageType);
  for (const service of file.service ?? []) {
    for (const method of service.method ?? []) {
      references.push({ name: method.inputType, scope: file.package ?? '' });
      references.push({ name: method.outputType, scope: file.package ?? '' });
    }
  }
  return references;
}

/** Protobuf's lookup: `.a.B` is absolute; `B` is tried in the innermost scope first, then outwards. */
function resolve(name: string, scope: string, index: ReadonlyMap<string, string>): string | undefined {
  if (name.startsWith('.')) return index.has(name.slice(1)) ? name.slice(1) : undefined;
  const parts = scope ? scope.split('.') : [];
  for (let depth = parts.length; depth >= 0; depth--) {
    const candidate = qualified(parts.slice(0, depth).join('.') || undefined, name);
    if (index.has(candidate)) return candidate;
  }
  return undefined;
}

/** The files whose types `file` uses without importing them, or a reference no file defines. */
function missingImports(
  file: DescriptorFile,
  index: ReadonlyMap<string, string>,
): Set<string> | { unresolved: string } {
  const imports = new Set(file.decoded.dependency ?? []);
  const missing = new Set<string>();
  for (const reference of referencesOf(file.decoded)) {
    const type = resolve(reference.name, reference.scope, index);
    if (!type) return { unresolved: reference.name };
    const owner = index.get(type) as string;
    if (owner !== file.decoded.name && !imports.has(owner)) missing.add(owner);
  }
  return missing;
}

function importCycle(files: ReadonlyMap<string, DescriptorFile>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const reaches = (name: string): boolean => {
    if (name === from) return true;
    if (seen.has(name)) return false;
    seen.add(name);
    return (files.get(name)?.decoded.dependency ?? []).some(reaches);
  };
  return reaches(to);
}

/**
 * Adds the imports a file lacks for types other files define, where that creates no import cycle. Some
 * servers (@grpc/reflection, for Node) describe each package as one file with no imports at all; Envoy's
 * descriptor pool refuses such files.
 */
export function withMissingImports(files: ReadonlyMap<string, DescriptorFile>): Map<string, DescriptorFile> {
  const index = typeIndex([...files.values()]);
  const repaired = new Map(files);
  for (const name of [...files.keys()].sort()) {
    const file = repaired.get(name) as DescriptorFile;
    const missing = missingImports(file, index);
    if (!(missing instanceof Set) || missing.size === 0) continue;
    const added = [...missing].sort().filter((owner) => !importCycle(repaired, name, owner));
    if (added.length === 0) continue;
    const writer = Writer.create();
    for (const owner of added) writer.uint32(DEPENDENCY_TAG).string(owner);
    const raw = Buffer.concat([file.raw, writer.finish()]);
    repaired.set(name, {
      raw,
      decoded: { ...file.decoded, dependency: [...(file.decoded.dependency ?? []), ...added] },
    });
  }
  return repaired;
}

/** Dependencies before the files that import them: the order Envoy's descriptor pool builds them in. */
export function dependencyOrder(
  files: ReadonlyMap<string, DescriptorFile>,
  holder = 'the set',
): DescriptorFile[] {
  const ordered: DescriptorFile[] = [];
  const placed = new Set<string>();
  const place = (name: string, chain: string[]) => {
    if (placed.has(name)) return;
    const file = files.get(name);
    if (!file) throw new Error(`${chain.at(-1) ?? name} imports ${name}, which ${holder} did not include`);
    if (chain.includes(name)) throw new Error(`import cycle ${[...chain, name].join(' -> ')}`);
    for (const dependency of file.decoded.dependency ?? []) place(dependency, [...chain, name]);
    placed.add(name);
    ordered.push(file);
  };
  for (const name of [...files.keys()].sort()) place(name, []);
  return ordered;
}

/**
 * Why a descriptor set cannot be built into a descriptor pool the way Envoy builds it (each file after
 * its imports, every type it uses defined in it or in a file it imports), or undefined when it can.
 */
export function descriptorSetProblem(files: readonly DescriptorFile[]): string | undefined {
  const byName = new Map(files.map((file) => [file.decoded.name, file]));
  const built = new Set<string>();
  for (const file of files) {
    const unbuilt = (file.decoded.dependency ?? []).find((dependency) => !built.has(dependency));
    if (unbuilt !== undefined) {
      return byName.has(unbuilt)
        ? `${file.decoded.name} comes before its import ${unbuilt} (or they import each other)`
        : `${file.decoded.name} imports ${unbuilt}, which the set does not have`;
    }
    built.add(file.decoded.name);
  }
  const index = typeIndex(files);
  for (const file of files) {
    const missing = missingImports(file, index);
    if (!(missing instanceof Set))
      return `${file.decoded.name} uses ${missing.unresolved}, which no file defines`;
    if (missing.size)
      return `${file.decoded.name} uses types of ${[...missing].join(', ')} without importing it`;
  }
  return undefined;
}
