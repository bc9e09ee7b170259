// Send AI's own TypeScript example for upload.create (docs.send.ai, API reference, uploads,
// "Create Upload"), unchanged except for what a user swaps: the base URL and the API key (read
// from the environment), and an "example usage" that uploads the file named on the command
// line (the page's example uploads the text 'file content', which is no PDF) and prints the
// JSON answer. Runs on Node.js 20 (global fetch, FormData, File) once its type annotations are
// removed: tests/live/test_pipeline.py strips them (no TypeScript toolchain needed).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const BASE_URL = process.env.SENDAI_BASE_URL; // was: https://api.send.ai
const YOUR_API_KEY = process.env.SENDAI_API_KEY;

interface UploadRequest {
  name: string;
  projectId: string;
  meta?: {name: string, value: string}[];
}

const createUpload = async (file: File, data: UploadRequest): Promise<any> => {
  const formData = new FormData();
  formData.append('file', file);
  formData.append('name', data.name);
  formData.append('projectId', data.projectId);
  if (data.meta) {
    formData.append('meta', JSON.stringify(data.meta));
  }

  const response = await fetch(`${BASE_URL}/api/v1/uploads`, {
    method: 'POST',
    headers: {
      'Authorization': `Bearer ${YOUR_API_KEY}`
    },
    body: formData
  });

  if (!response.ok) {
    throw new Error(`Upload failed: ${response.status} ${response.statusText}`);
  }

  return response.json();
};

// Example usage: FILE NAME PROJECT_ID [META as JSON text]
const [path, name, projectId, meta] = process.argv.slice(2);
const file = new File([readFileSync(path)], basename(path), { type: 'application/pdf' });
createUpload(file, {
  name: name,
  projectId: projectId,
  meta: meta ? JSON.parse(meta) : undefined
}).then(result => console.log(JSON.stringify(result)))
  .catch(error => { console.error(error); process.exit(1); });
