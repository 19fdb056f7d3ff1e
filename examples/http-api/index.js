// A small JSON API on declared routes (faas.json): the gateway matches the route and passes an
// HTTP event; a { statusCode, headers, body } result becomes the response.
const BOOKS = [
  { id: '1', title: 'The Pragmatic Programmer', year: 1999 },
  { id: '2', title: 'Structure and Interpretation of Computer Programs', year: 1985 },
];

const json = (statusCode, body) => ({ statusCode, headers: { 'content-type': 'application/json' }, body });

export default function handler(event, context) {
  const { method, params } = event;
  if (method === 'GET' && params.id === undefined) return json(200, { items: BOOKS });
  if (method === 'GET') {
    const book = BOOKS.find((b) => b.id === params.id);
    return book ? json(200, book) : json(404, { error: `no book ${params.id}` });
  }
  if (method === 'POST') {
    let input;
    try {
      input = JSON.parse(event.isBase64Encoded ? atob(event.body) : event.body);
    } catch {
      return json(400, { error: 'the body is not JSON' });
    }
    if (typeof input?.title !== 'string' || input.title.trim() === '')
      return json(422, { error: 'title is required' });
    context.log.info('created', input.title);
    // Stateless on purpose: a real API would write to its database here.
    return json(201, { id: String(BOOKS.length + 1), title: input.title.trim(), year: input.year ?? null });
  }
  return json(405, { error: `${method} is not allowed` });
}
