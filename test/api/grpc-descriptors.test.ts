import { FileDescriptorProto } from 'protobufjs/ext/descriptor';
import {
  decodeDescriptorSet,
  decodeFile,
  dependencyOrder,
  descriptorSetBytes,
  descriptorSetProblem,
  withMissingImports,
  type DescriptorFile,
} from '../../src/api/grpc-descriptors';

const MESSAGE = 11;

/** A file as a server would send it: messages with message-typed fields, services, imports. */
function file(
  name: string,
  options: {
    package: string;
    imports?: string[];
    messages?: Record<string, string[]>;
    methods?: Array<[string, string]>;
  },
): DescriptorFile {
  const descriptor = {
    name,
    package: options.package,
    dependency: options.imports ?? [],
    messageType: Object.entries(options.messages ?? {}).map(([message, types]) => ({
      name: message,
      field: types.map((typeName, index) => ({
        name: `f${index}`,
        number: index + 1,
        label: 1,
        type: MESSAGE,
        typeName,
      })),
    })),
    service: options.methods
      ? [
          {
            name: 'Api',
            method: options.methods.map(([input, output], index) => ({
              name: `M${index}`,
              inputType: input,
              outputType: output,
            })),
          },
        ]
      : [],
  };
  return decodeFile(
    Buffer.from(FileDescriptorProto.encode(FileDescriptorProto.fromObject(descriptor)).finish()),
  );
}

const byName = (...files: DescriptorFile[]) => new Map(files.map((each) => [each.decoded.name, each]));

describe('gRPC descriptor sets', () => {
  it('round-trips a set through its bytes, keeping each file byte for byte', () => {
    const files = [
      file('a.proto', { package: 'a', messages: { A: [] } }),
      file('b.proto', { package: 'b', imports: ['a.proto'], messages: { B: ['.a.A'] } }),
    ];
    const decoded = decodeDescriptorSet(descriptorSetBytes(files));
    expect(decoded.map((each) => each.raw)).toEqual(files.map((each) => each.raw));
    expect(descriptorSetProblem(decoded)).toBeUndefined();
  });

  it('orders imports first and names what is missing', () => {
    const a = file('a.proto', { package: 'a', messages: { A: [] } });
    const b = file('b.proto', { package: 'b', imports: ['a.proto'], messages: { B: ['.a.A'] } });
    expect(dependencyOrder(byName(b, a)).map((each) => each.decoded.name)).toEqual(['a.proto', 'b.proto']);
    expect(() => dependencyOrder(byName(b), 'the server')).toThrow(
      'b.proto imports a.proto, which the server did not include',
    );
    expect(descriptorSetProblem([b, a])).toBe(
      'b.proto comes before its import a.proto (or they import each other)',
    );
    expect(descriptorSetProblem([b])).toBe('b.proto imports a.proto, which the set does not have');
  });

  it('resolves relative type names from the innermost scope outwards, as protobuf does', () => {
    const common = file('common.proto', { package: 'shop', messages: { Money: [] } });
    const orders = file('orders.proto', {
      package: 'shop.orders',
      imports: ['common.proto'],
      messages: { Order: ['Money', 'shop.Money'] },
      methods: [['Order', '.shop.orders.Order']],
    });
    expect(descriptorSetProblem([common, orders])).toBeUndefined();
    const unknown = file('x.proto', { package: 'x', messages: { X: ['Nowhere'] } });
    expect(descriptorSetProblem([unknown])).toBe('x.proto uses Nowhere, which no file defines');
  });

  it('adds the imports a file lacks (one file per package, as @grpc/reflection serves them)', () => {
    const money = file('shop_money.proto', { package: 'shop.money', messages: { Money: [] } });
    const orders = file('shop_orders.proto', {
      package: 'shop.orders',
      messages: { Order: ['shop.money.Money'] },
    });
    expect(descriptorSetProblem([money, orders])).toBe(
      'shop_orders.proto uses types of shop_money.proto without importing it',
    );
    const repaired = withMissingImports(byName(money, orders));
    const fixed = repaired.get('shop_orders.proto') as DescriptorFile;
    expect(fixed.decoded.dependency).toEqual(['shop_money.proto']);
    expect(decodeFile(fixed.raw).decoded.dependency).toEqual(['shop_money.proto']);
    expect(fixed.raw.subarray(0, orders.raw.length)).toEqual(orders.raw);
    expect(descriptorSetProblem(dependencyOrder(repaired))).toBeUndefined();
  });

  it('adds no import that would make a cycle, leaving the set for the transcoder check to refuse', () => {
    const a = file('a.proto', { package: 'a', messages: { A: ['.b.B'] } });
    const b = file('b.proto', { package: 'b', messages: { B: ['.a.A'] } });
    const repaired = withMissingImports(byName(a, b));
    const ordered = dependencyOrder(repaired);
    expect(ordered.map((each) => [each.decoded.name, each.decoded.dependency])).toEqual([
      ['b.proto', []],
      ['a.proto', ['b.proto']],
    ]);
    expect(descriptorSetProblem(ordered)).toBe('b.proto uses types of a.proto without importing it');
  });
});
