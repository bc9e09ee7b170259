# Send AI's own Python example for upload.create (docs.send.ai, API reference, uploads,
# "Create Upload"), unchanged except for what a user swaps: the base URL and the API key (read
# from the environment). The stored copy of the page breaks off inside `headers`; the rest of
# create_upload is completed the obvious way, as the page's cURL and TypeScript samples send it
# (fields file, name, projectId, meta as JSON text), and the file is closed after the request.
import requests  # noqa: I001 - the page's imports, in its order
import json
import os  # added: the base URL and key come from the environment

BASE_URL = os.environ["SENDAI_BASE_URL"]  # was: https://api.send.ai
YOUR_API_KEY = os.environ["SENDAI_API_KEY"]


def create_upload(file_path, name, project_id, meta=None):
    url = f'{BASE_URL}/api/v1/uploads'
    headers = {
        'Authorization': f'Bearer {YOUR_API_KEY}'
    }
    # --- from here on completed (the stored page is cut off above) ---
    data = {
        'name': name,
        'projectId': project_id
    }
    if meta:
        data['meta'] = json.dumps(meta)
    with open(file_path, 'rb') as file:
        files = {'file': file}
        response = requests.post(url, headers=headers, files=files, data=data)
    response.raise_for_status()  # Raise exception for 4XX/5XX responses
    return response.json()


if __name__ == "__main__":
    import sys

    # Example usage: FILE NAME PROJECT_ID [META as JSON text]
    meta = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    result = create_upload(sys.argv[1], sys.argv[2], sys.argv[3], meta)
    print(json.dumps(result))
