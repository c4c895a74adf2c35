import {
  envoyTemplateProblem,
  formatTemplate,
  parsePathTemplate,
  segmentRanks,
  templateRegex,
} from '../../../src/translator/envoy/uri-template';

describe('path templates', () => {
  it('parses OpenAPI-style templates and formats them back', () => {
    for (const template of [
      '/pets/{petId}',
      '/files/{path=**}',
      '/v1/*/x',
      '/a/{user-id}/b',
      '/r/{a}-{b}.json',
    ]) {
      const parsed = parsePathTemplate(template);
      expect(typeof parsed).toBe('object');
      expect(formatTemplate(parsed as never)).toBe(template);
    }
    expect(parsePathTemplate('/a/{x}/{x}')).toBe('variable x is used twice');
    expect(parsePathTemplate('pets')).toBe('must start with "/"');
    expect(parsePathTemplate('/a/**/b')).toBe('"**" may only be the last segment');
    expect(parsePathTemplate('/a/{x=**}/b')).toBe('variable x: "**" may only be in the last segment');
    expect(parsePathTemplate('/a/{x')).toMatch(/unbalanced/);
    expect(parsePathTemplate('/a/b*c')).toMatch(/a wildcard must fill a whole segment/);
  });

  it("says which templates Envoy's uri_template cannot take as written", () => {
    expect(envoyTemplateProblem('/pets/{petId}/photos/{name}.png')).toBeUndefined();
    expect(envoyTemplateProblem('/a/{user-id}')).toMatch(/variable name "user-id"/);
    expect(envoyTemplateProblem('/{a}/{b}/{c}/{d}/{e}/{f}')).toBe('more than 5 variables');
    expect(envoyTemplateProblem('/r/{a}-{b}')).toMatch(/only one variable per segment/);
    expect(envoyTemplateProblem('/r/{a}.json/x')).toMatch(/only one variable per segment/);
    expect(envoyTemplateProblem('/r/x{a}')).toBe('variable a does not start its segment');
    expect(envoyTemplateProblem('/a b/{x}')).toMatch(/literal "a b"/);
    expect(envoyTemplateProblem(`/${'a'.repeat(260)}`)).toBe('longer than 256 characters');
  });

  it('builds the equivalent RE2 regex, with captures in variable order when asked', () => {
    expect(templateRegex('/pets/{id}/photos/{name}.png')).toBe('/pets/[^/]+/photos/[^/]+\\.png');
    expect(templateRegex('/r/{a}-{b}', true)).toBe('/r/([^/]+)-([^/]+)');
    expect(templateRegex('/files/{path=**}', true)).toBe('/files/(.*)');
    expect(templateRegex('/v1/*/x')).toBe('/v1/[^/]+/x');
    const regex = new RegExp(`^${templateRegex('/pets/{id}/photos/{name}.png', true)}$`);
    expect(regex.exec('/pets/7/photos/cat.png')?.slice(1)).toEqual(['7', 'cat']);
    expect(regex.test('/pets/7/x/photos/cat.png')).toBe(false);
  });

  it('ranks literal segments before variables and ** last', () => {
    const ranks = (template: string) => segmentRanks(parsePathTemplate(template) as never);
    expect(ranks('/pets/mine')).toEqual([0, 0]);
    expect(ranks('/pets/{id}.json')).toEqual([0, 1]);
    expect(ranks('/pets/{id}')).toEqual([0, 2]);
    expect(ranks('/files/{path=**}')).toEqual([0, 3]);
  });
});
