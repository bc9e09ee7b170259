# Send AI's own Python example for the discard endpoint (seed/discard-task.txt), unchanged
# except for what a user swaps: the base URL and the API key (read from the environment).
import os

import requests

BASE_URL = os.environ["SENDAI_BASE_URL"]  # was: https://api.send.ai
YOUR_API_KEY = os.environ["SENDAI_API_KEY"]


def discard_task(team_id, project_id, task_id):
    url = f'{BASE_URL}/v2/{team_id}/project/{project_id}/task/{task_id}/discard'
    headers = {
        'Authorization': f'Bearer {YOUR_API_KEY}'
    }
    response = requests.post(url, headers=headers)
    response.raise_for_status()
    return response.json()


if __name__ == "__main__":
    import json
    import sys

    # Example usage
    result = discard_task(sys.argv[1], sys.argv[2], sys.argv[3])
    print(json.dumps(result))
